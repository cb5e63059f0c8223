"""What the services say: exception texts, request mix, browsers and search terms."""

from __future__ import annotations

NPE = (
    'java.lang.NullPointerException: Cannot invoke "com.example.checkout.promo.PromoCode.'
    'discountFor(com.example.checkout.model.Cart)" because "promo" is null\n'
    "\tat com.example.checkout.pricing.PriceCalculator.applyPromotions(PriceCalculator.java:214)\n"
    "\tat com.example.checkout.pricing.PriceCalculator.total(PriceCalculator.java:88)\n"
    "\tat com.example.checkout.service.OrderService.createOrder(OrderService.java:131)\n"
    "\tat com.example.checkout.web.OrderController.create(OrderController.java:57)"
)
KEYERROR = (
    "Traceback (most recent call last):\n"
    '  File "/app/inventory/api/reservations.py", line 142, in create_reservation\n'
    "    allocation = allocate(item, stock_by_warehouse)\n"
    '  File "/app/inventory/allocation.py", line 61, in allocate\n'
    '    wh = item["warehouse_id"]\n'
    "KeyError: 'warehouse_id'"
)
GO_PANIC = (
    "goroutine {g} [running]:\nruntime/debug.Stack()\n\t/usr/local/go/src/runtime/debug/stack.go:26"
    "\ngithub.com/example/payments/internal/charge.(*Service).applyFX(0xc000412000, {{0x0, 0x0}})"
    "\n\t/src/internal/charge/fx.go:88 +0x1c4\ngithub.com/example/payments/internal/charge."
    "(*Service).Create(0xc000412000, {{0x1a2b3c0, 0xc0004e6f30}})\n\t/src/internal/charge/service.go:142"
)
HIKARI = (
    "HikariPool-1 - Connection is not available, request timed out after 30000ms "
    "(total=10, active=10, idle=0, waiting={w})"
)
QUEUEPOOL = (
    "QueuePool limit of size 20 overflow 10 reached, connection timed out, timeout 30.00 "
    "(Background on this error at: https://sqlalche.me/e/20/3o7r)"
)
OIDC = (
    'oidc: issuer did not match the issuer returned by provider, expected "https://login.shop-'
    'example.com" got "https://login.shop.example.com"'
)
TIMEOUT_JAVA = (
    "org.springframework.web.client.ResourceAccessException: I/O error on {m} request for "
    '"http://{dep}.prod.svc.cluster.local:{port}{path}": Read timed out\n'
    "Caused by: java.net.SocketTimeoutException: Read timed out\n"
    "\tat java.base/sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:278)"
)
PY_LEVEL = {
    "debug": "debug",
    "info": "info",
    "warn": "warning",
    "error": "error",
    "fatal": "critical",
}
ERRORISH = frozenset(("error", "fatal"))

STATIC = (
    "js/app.4f9c2b1e.js",
    "js/vendor.91d3a7c0.js",
    "css/main.0e8b5d2f.css",
    "img/logo.7a1c9e3b.svg",
    "img/hero.2d6f8a4c.webp",
    "fonts/inter.b3e5.woff2",
)
CATEGORIES = ("shoes", "jackets", "backpacks", "outdoor", "kids", "sale", "new-in", "accessories")
TERMS = (
    "rain+jacket",
    "trail+shoes",
    "backpack+30l",
    "wool+socks",
    "gift+card",
    "tent",
    "headlamp",
    "down+vest",
    "gloves",
    "sale",
)
BROWSERS = (
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        "h2",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Safari/605.1.15",
        "h2",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "h2",
    ),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "h2"),
    (
        "Mozilla/5.0 (Linux; Android 15; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.6778.81 Mobile Safari/537.36",
        "h2",
    ),
    ("ShopApp/5.12.3 (iPhone; iOS 18.1; Scale/3.00)", "https"),
    ("ShopApp/5.12.3 (Android 15; Pixel 8)", "https"),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "https"),
)
BENIGN_PREVIOUS = {"search": "4.1.9", "recommendations": "0.9.2"}
STORM_UA = "ShopApp/5.13.0 (iPhone; iOS 18.1; Scale/3.00)"

# Request mix at the edge: kind -> share of ALB requests.
MIX = (
    ("static", 0.28),
    ("home", 0.09),
    ("product", 0.22),
    ("category", 0.07),
    ("cart", 0.07),
    ("checkout", 0.035),
    ("account", 0.025),
    ("search", 0.17),
    ("login", 0.04),
)
BASE_RPM = 1150.0  # ALB requests per minute at scale 1.0
