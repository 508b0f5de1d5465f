/*
 * fuzz_main.c - a plain driver for the fuzz targets, for machines without
 * libFuzzer (clang's runtime is an optional Debian package) and for quick
 * regression runs under gcc's ASan + UBSan.
 *
 *     fuzz_replay [-mutate N] [-seed S] [-artifact FILE] PATH...
 *
 * Runs LLVMFuzzerTestOneInput on every file of every PATH (files or
 * directories), then, with -mutate N, on N random mutations of each: bit
 * flips, interesting bytes and 64-bit values (mostly at 8-aligned offsets
 * of the header page, where the layout lives), truncation and extension.
 * Deterministic for a given seed.  With -artifact, every mutated input is
 * written to FILE before it runs, so that after a crash FILE reproduces it.
 * Exit status: 0, 2 on bad usage or unreadable input; a crash aborts.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct input {
	char *name;
	uint8_t *data;
	size_t size;
} input;

static input *inputs;
static size_t ninputs;
static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int load_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	input *in;

	if (!f || fstat(fileno(f), &st) != 0) {
		fprintf(stderr, "fuzz_replay: %s: cannot read\n", path);
		if (f)
			fclose(f);
		return -1;
	}
	inputs = realloc(inputs, (ninputs + 1) * sizeof(*inputs));
	if (!inputs)
		abort();
	in = &inputs[ninputs++];
	in->name = strdup(path);
	in->size = (size_t)st.st_size;
	in->data = malloc(in->size + 1);
	if (!in->name || !in->data || fread(in->data, 1, in->size, f) != in->size)
		abort();
	fclose(f);
	return 0;
}

static int load(const char *path)
{
	struct stat st;
	struct dirent *de;
	char sub[4096];
	DIR *d;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "fuzz_replay: %s: no such file or directory\n", path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return load_file(path);
	if (!(d = opendir(path)))
		return -1;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (stat(sub, &st) == 0 && S_ISREG(st.st_mode) && load_file(sub) != 0) {
			closedir(d);
			return -1;
		}
	}
	closedir(d);
	return 0;
}

static const uint64_t interesting[] = {
        0,
        1,
        2,
        3,
        7,
        8,
        63,
        64,
        127,
        128,
        4095,
        4096,
        4097,
        0x7fffffff,
        0x80000000,
        0xffffffff,
        0x100000000ULL,
        0x7fffffffffffffffULL,
        0x8000000000000000ULL,
        0xfffffffffffff000ULL,
        0xffffffffffffffffULL,
};

/* Applies 1-8 random mutations to buf (cap bytes, *size in use). */
static void mutate(uint8_t *buf, size_t *size, size_t cap)
{
	int n = 1 + (int)(rnd() % 8);

	for (int i = 0; i<n && * size> 0; i++) {
		uint64_t v = interesting[rnd() % (sizeof(interesting) / sizeof(interesting[0]))];
		size_t off;

		switch (rnd() % 6) {
		case 0: /* a bit anywhere */
			buf[rnd() % *size] ^= (uint8_t)(1u << (rnd() % 8));
			break;
		case 1: /* an interesting byte */
			buf[rnd() % *size] = (uint8_t)v;
			break;
		case 2: /* an interesting word in the header page */
		case 3:
			off = (size_t)(rnd() % (*size < 4096 ? *size : 4096)) & ~(size_t)7;
			if (off + 8 <= *size) {
				if (rnd() % 2)
					v += rnd() % 3 - 1;
				memcpy(buf + off, &v, 8);
			}
			break;
		case 4: /* a 32-bit interesting value anywhere aligned */
			off = (size_t)(rnd() % *size) & ~(size_t)3;
			if (off + 4 <= *size) {
				uint32_t w = (uint32_t)v;
				memcpy(buf + off, &w, 4);
			}
			break;
		case 5: /* truncate or extend */
			if (rnd() % 2)
				*size = (size_t)(rnd() % *size);
			else if (*size < cap)
				*size += (size_t)(rnd() % (cap - *size + 1));
			break;
		}
	}
}

int main(int argc, char **argv)
{
	long mutations = 0;
	const char *artifact = NULL;
	size_t runs = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-mutate") == 0 && i + 1 < argc) {
			mutations = atol(argv[++i]);
		} else if (strcmp(argv[i], "-seed") == 0 && i + 1 < argc) {
			rng = strtoull(argv[++i], NULL, 0) | 1;
		} else if (strcmp(argv[i], "-artifact") == 0 && i + 1 < argc) {
			artifact = argv[++i];
		} else if (argv[i][0] == '-') {
			fprintf(stderr,
			        "usage: %s [-mutate N] [-seed S] [-artifact FILE] PATH...\n",
			        argv[0]);
			return 2;
		} else if (load(argv[i]) != 0) {
			return 2;
		}
	}
	if (ninputs == 0) {
		fprintf(stderr, "fuzz_replay: no inputs\n");
		return 2;
	}
	for (size_t i = 0; i < ninputs; i++, runs++)
		LLVMFuzzerTestOneInput(inputs[i].data, inputs[i].size);
	for (size_t i = 0; i < ninputs; i++) {
		size_t cap = inputs[i].size + 8192;
		uint8_t *buf = calloc(cap, 1);
		if (!buf)
			abort();
		for (long m = 0; m < mutations; m++, runs++) {
			size_t size = inputs[i].size;
			memcpy(buf, inputs[i].data, size);
			mutate(buf, &size, cap);
			if (artifact) {
				FILE *f = fopen(artifact, "wb");
				if (!f || fwrite(buf, 1, size, f) != size)
					abort();
				fclose(f);
			}
			LLVMFuzzerTestOneInput(buf, size);
		}
		free(buf);
	}
	for (size_t i = 0; i < ninputs; i++) {
		free(inputs[i].name);
		free(inputs[i].data);
	}
	free(inputs);
	printf("fuzz_replay: %zu inputs, %zu runs, no crash\n", ninputs, runs);
	return 0;
}
