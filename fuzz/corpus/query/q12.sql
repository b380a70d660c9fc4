SELECT avg(t2m) FROM era5
