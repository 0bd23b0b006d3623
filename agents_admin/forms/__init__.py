"""Every console input, GET filters included. Validation rules live in agents_admin.validation and the services;
these forms parse text into values and put a service's error beside the field it names."""
