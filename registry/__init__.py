"""Registry records of treated patients (NICE HTG720 1.4): build, export, submit."""
