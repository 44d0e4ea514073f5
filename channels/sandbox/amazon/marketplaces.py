"""Marketplace ids the sandbox knows (python-amazon-sp-api's `Marketplaces` and Amazon's list)."""

MARKETPLACES = {
    # id: (country, name, region, currency, default AFN fulfillment channel code)
    "ATVPDKIKX0DER": ("US", "Amazon.com", "NA", "USD", "AMAZON_NA"),
    "A2EUQ1WTGCTBG2": ("CA", "Amazon.ca", "NA", "CAD", "AMAZON_NA"),
    "A1AM78C64UM0Y8": ("MX", "Amazon.com.mx", "NA", "MXN", "AMAZON_NA"),
    "A2Q3Y263D00KWC": ("BR", "Amazon.com.br", "NA", "BRL", "AMAZON_NA"),
    "A1F83G8C2ARO7P": ("GB", "Amazon.co.uk", "EU", "GBP", "AMAZON_EU"),
    "A1PA6795UKMFR9": ("DE", "Amazon.de", "EU", "EUR", "AMAZON_EU"),
    "A13V1IB3VIYZZH": ("FR", "Amazon.fr", "EU", "EUR", "AMAZON_EU"),
    "APJ6JRA9NG5V4": ("IT", "Amazon.it", "EU", "EUR", "AMAZON_EU"),
    "A1RKKUPIHCS9HS": ("ES", "Amazon.es", "EU", "EUR", "AMAZON_EU"),
    "A1VC38T7YXB528": ("JP", "Amazon.co.jp", "FE", "JPY", "AMAZON_JP"),
    "A39IBJ37TRP1C6": ("AU", "Amazon.com.au", "FE", "AUD", "AMAZON_FE"),
    "A19VAU5U5O7RUS": ("SG", "Amazon.sg", "FE", "SGD", "AMAZON_FE"),
}
