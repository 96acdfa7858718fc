module example.com/donations

go 1.26
