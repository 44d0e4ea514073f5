"""The sandbox's selling partner accounts, one module per domain.

`base.WorldBase` holds the state every domain works on (the lock, the clock's scheduler, the
fault book, the dictionaries of listings, stock, orders...); each other module is a mixin of
that base with the actions of one domain, and `model.AmazonSandbox` composes them. The records
(`records`) and the configuration (`config`) import nothing of the world, so any module may use
them.
"""
