"""The Russian reference's scheduler API (`/api/v1/scheduler/`), served for its existing clients: its field
names and status codes, over task_scheduling's own selectors and services (no second implementation)."""
