"""Infrastructure both channel sandboxes share: what a fake API needs besides the API itself.

Each sandbox keeps what makes it that channel (Shopify's HMAC-signed webhooks and cost-based
throttling, Amazon's EventBridge envelopes and per-operation usage plans); this package holds
only the mechanisms under them: at-least-once delivery, the fault book, the request log, the
threaded server, the background order loop, the control API's plumbing. Imports nothing of ours
outside channels.sandbox.
"""
