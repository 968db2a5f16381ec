"""Domain errors raised when a clinical rule refuses an input.

They subclass ``ValueError`` so an Update validator or API edge can treat them as bad input,
while the pathway can still catch the specific refusal it cares about.
"""


class ClinicalRuleError(ValueError):
    """A clinical rule refuses the input; the message names the value and the limit."""


class LungShuntTooHighError(ClinicalRuleError):
    """The lung shunt fraction is above the highest band that may be treated."""
