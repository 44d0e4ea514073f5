# Reconciliation runs, drift, sales halts and alerts arrive with reconciliation.
