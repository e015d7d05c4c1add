"""The schedule domain: working hours, date overrides, leave requests and the schedule view."""
