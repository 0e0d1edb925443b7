"""SendGrid Marketing Campaigns: the API client, the sync planner and a local sandbox server."""
