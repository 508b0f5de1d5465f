module taskscope/bench/gohttp

go 1.19
