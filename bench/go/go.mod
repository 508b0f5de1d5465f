module taskscope/bench/go

go 1.19
