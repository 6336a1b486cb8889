"""Accounts and what they own: API users, OAuth clients, applications, phone numbers."""
