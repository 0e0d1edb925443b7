"""Tests of the SendGrid sandbox server and the SendGrid client."""
