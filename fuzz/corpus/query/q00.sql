SELECT t2m FROM era5 WHERE lat = 52.0 AND lon = 5.0
