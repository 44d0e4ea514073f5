"""What an operator's monitoring reads: /metrics for Prometheus, /healthz and /readyz for
load balancers and orchestrators. Every figure comes from the database or the broker at the
moment it is asked for, so any web process answers for the whole deployment (its workers may
run on other machines) and no figure is lost when a process restarts."""
