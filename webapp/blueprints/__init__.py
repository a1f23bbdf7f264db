"""One blueprint per audience: public pages, sign-in, contributors, operators, compliance, admin, JSON API."""
