"""The messaging core: message types, the two buses, the unit of work and outbox.

It imports no domain; domains register their handlers with it at bootstrap.
"""
