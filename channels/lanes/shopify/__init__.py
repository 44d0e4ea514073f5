"""The Shopify lane: Admin GraphQL client, webhooks, inbound handlers, mapping import."""
