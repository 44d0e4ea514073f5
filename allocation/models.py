# Rules, reservations, bundles and velocity tiers arrive with the allocation engine.
