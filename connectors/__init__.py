"""HR system connectors (Workday, SAP SuccessFactors) and their local contract simulators."""
