"""Cards and provider bindings, the reveal service, and the cardholder's card pages."""
