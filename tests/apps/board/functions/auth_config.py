providers = [{"type": "password", "applicationID": "board"}]
