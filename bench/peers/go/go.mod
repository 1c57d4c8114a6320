module fcgibench/peers

go 1.19
