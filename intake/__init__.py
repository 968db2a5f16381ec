"""Intake from other hospital systems: HL7v2 over MLLP and FHIR resources, to pathway steps."""
