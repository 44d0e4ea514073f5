"""The sandbox's shop, one module per domain.

`base.ShopBase` holds the state every domain works on (the lock, the id counters, the
dictionaries of locations, products, levels and orders, the webhook dispatcher); each other
module is a mixin of that base with the actions of one domain, and `model.ShopifySandbox`
composes them. The records (`records`) and the configuration (`config`) import nothing of the
shop, so any module may use them.
"""
