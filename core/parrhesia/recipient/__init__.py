"""The recipient's machine: the API client that pulls, decrypts and acts, and the keys it trusts."""
