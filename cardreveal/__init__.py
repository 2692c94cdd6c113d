"""cardreveal: show a cardholder their card's CVV briefly, after a fresh OTP, never storing it."""
