"""The coordinator web app and JSON API: worklists, forms, timelines, roles and an audit trail."""
