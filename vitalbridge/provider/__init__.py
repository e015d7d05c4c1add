"""The provider domain: the clinicians of a tenant, their specialty and time zone."""
