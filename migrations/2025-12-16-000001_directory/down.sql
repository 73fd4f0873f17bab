DROP TABLE tokens;
DROP TABLE api_keys;
DROP TABLE admins;
DROP TABLE stores;
