"""The one base every model with a number derives from: NaN and infinity are refused.

Python's float parsing accepts "nan" and "inf", and JSON encoders write them; a NaN compares
false with every limit, so it would pass every range check and grade as normal. Pydantic's
``allow_inf_nan=False`` refuses them at parse time, naming the field; setting it once here keeps
the API, the Update payloads, the CLI and the forms on the same rule (tests/test_finite.py
walks every float field of every model).
"""

from pydantic import BaseModel, ConfigDict


class Finite(BaseModel):
    """A pydantic model whose float fields refuse NaN and +/-infinity."""

    model_config = ConfigDict(allow_inf_nan=False)
