"""Small HTTP helpers shared by pfioh and pman: token auth, the gunicorn launcher, metrics, errors.

It depends on neither service (nor on swiftstore), so both can use it without knowing each other.
"""
