"""The demo generator's vocabulary: names, domains, countries and cities, plans, tags,
order categories with their typical prices, and event names, most with their weights.

Our own constants, safe to write into SQL text; weights of one choice sum to 1.
"""

from __future__ import annotations

FIRST_NAMES = (
    "Anna", "Erik", "Lena", "Johan", "Sofia", "Lars", "Emma", "Karl", "Maria", "Lukas",
    "Mia", "Felix", "Hannah", "Paul", "Julia", "Louis", "Chloe", "Hugo", "Lea", "Jules",
    "Olivia", "James", "Amelia", "Oliver", "Isla", "Noah", "Ava", "Liam", "Emily", "Ethan",
    "Sara", "Marco", "Giulia", "Pablo", "Lucia", "Jan", "Eva", "Piotr", "Ana", "Mateo",
)  # fmt: skip
LAST_NAMES = (
    "Svensson", "Johansson", "Nilsson", "Muller", "Schmidt", "Schneider", "Martin", "Bernard",
    "Dubois", "Smith", "Jones", "Taylor", "Brown", "Williams", "Garcia", "Rossi", "Bianchi",
    "Jansen", "Visser", "Kowalski", "Nowak", "Hansen", "Larsen", "Virtanen", "Silva",
    "Johnson", "Miller", "Davis", "Wilson", "Moore", "Lopez", "Novak", "Berg", "Lindqvist",
)  # fmt: skip
DOMAINS = ("example.com", "example.org", "example.net", "mail.example.net", "demo.example.com")
PLUS_TAGS = ("news", "shop", "promo", "2026")
COUNTRY_WEIGHTS = (
    ("US", 0.28), ("GB", 0.12), ("DE", 0.11), ("FR", 0.09), ("SE", 0.07), ("NL", 0.05),
    ("ES", 0.05), ("IT", 0.05), ("CA", 0.05), ("AU", 0.04), ("NO", 0.03), ("DK", 0.02),
    ("FI", 0.02), ("PL", 0.01), ("BR", 0.01),
)  # fmt: skip
CITIES: dict[str, tuple[str, ...]] = {
    "US": ("New York", "Los Angeles", "Chicago", "Austin", "Seattle"),
    "GB": ("London", "Manchester", "Bristol", "Edinburgh"),
    "DE": ("Berlin", "Hamburg", "München", "Köln"),
    "FR": ("Paris", "Lyon", "Marseille", "Toulouse"),
    "SE": ("Stockholm", "Göteborg", "Malmö", "Uppsala"),
    "NL": ("Amsterdam", "Rotterdam", "Utrecht"),
    "ES": ("Madrid", "Barcelona", "Valencia"),
    "IT": ("Roma", "Milano", "Torino"),
    "CA": ("Toronto", "Montréal", "Vancouver"),
    "AU": ("Sydney", "Melbourne", "Brisbane"),
    "NO": ("Oslo", "Bergen"),
    "DK": ("København", "Aarhus"),
    "FI": ("Helsinki", "Tampere"),
    "PL": ("Warszawa", "Kraków"),
    "BR": ("São Paulo", "Rio de Janeiro"),
}
PLAN_WEIGHTS = (("free", 0.70), ("pro", 0.24), ("enterprise", 0.06))
TAGS = ("newsletter", "beta", "vip", "b2b", "churn_risk", "early_adopter")
TAG_COUNT_WEIGHTS = (("0", 0.50), ("1", 0.30), ("2", 0.15), ("3", 0.05))
STATUS_WEIGHTS = (("paid", 0.90), ("refunded", 0.06), ("cancelled", 0.04))
CATEGORY_PRICES = (
    ("apparel", 45.0), ("electronics", 180.0), ("home", 70.0), ("beauty", 30.0),
    ("books", 18.0), ("sports", 60.0),
)  # fmt: skip
EVENT_WEIGHTS = (
    ("page_view", 0.55), ("login", 0.08), ("email_open", 0.15), ("email_click", 0.05),
    ("add_to_cart", 0.09), ("checkout_started", 0.03), ("purchase", 0.05),
)  # fmt: skip
