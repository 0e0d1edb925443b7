"""Destinations the workbench keeps equal to segments (today: SendGrid contact lists)."""
