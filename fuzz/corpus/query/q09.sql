SELECT t2m * cos(radians(lat)) AS weighted FROM era5 WHERE time = '2023-01-01'
