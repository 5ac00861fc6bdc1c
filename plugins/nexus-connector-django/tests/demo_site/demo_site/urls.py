from demo_shop import views
from django.conf import settings
from django.urls import path
from nexus_connector_django import webhook_view

urlpatterns = [
    path("signup/", views.signup),
    path("async-signup/", views.async_signup),
    path("orders/<int:number>/confirm/", views.confirm_order),
    path("webhooks/stripe/", webhook_view("stripe", secret=settings.STRIPE_WEBHOOK_SECRET)),
]
