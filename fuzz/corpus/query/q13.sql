SELECT sum(value) FROM power WHERE asset IN (1, 51, 101) AND time >= '2023-01-08T23:00:00Z' AND time < '2023-01-15T23:00:00Z' GROUP BY time
