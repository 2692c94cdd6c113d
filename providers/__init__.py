"""Issuer-processor providers: one module per provider behind one interface; the only code that talks to them."""
