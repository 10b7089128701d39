providers = [
    {"type": "password"},
]
