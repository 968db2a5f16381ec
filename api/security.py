"""Response headers every answer carries, errors included."""

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
# The pages use no scripts at all; /docs (Swagger UI) is left without a CSP so it can load.
CSP = "default-src 'self'; script-src 'none'; frame-ancestors 'none'; form-action 'self'"
