SELECT value FROM power WHERE asset IN (1, 51, 101) AND time < '2023-01-02T00:00:00Z'
