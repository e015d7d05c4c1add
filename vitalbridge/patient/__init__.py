"""The patient domain: registration, updates and name search of a tenant's patients.

Public face in ``messages.py``: RegisterPatient / UpdatePatient, patient.created /
patient.updated, and GetPatient / GetPatients / SearchPatients for other domains.
"""
