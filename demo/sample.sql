-- The "production" database of `anonymize demo`: a small shop with
-- customers, their addresses, products, orders, order items and staff.
--
-- It is built from SQL alone so the demo needs nothing but a PostgreSQL
-- server. The Rust side replaces the placeholder CUSTOMERS (in double
-- braces) with `--customers` (200 by default) before sending this text;
-- every other table scales with it.
--
-- Every value is derived from md5 of a label and the row number, never from
-- random(): the same --customers gives the same database on every machine,
-- so the demo's before/after rows are reproducible.
--
-- The data is deliberately awkward where real data is: apostrophes and
-- hyphens in names, accents, tabs, CR LF, backslashes and emoji in free
-- text, array elements holding commas, quotes and braces, NULLs here and
-- there, and the customer's name and address copied into an order's jsonb.

-- Helpers live in pg_temp so they vanish with the loading session and are
-- not part of the schema that anonymize dumps and copies.

-- A non-negative 60-bit integer from md5(seed): stable across versions and
-- platforms, unlike hashtext().
CREATE FUNCTION pg_temp.h(seed text) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT
    AS $$ SELECT ('x' || substr(md5(seed), 1, 15))::bit(60)::bigint $$;

-- One element of `choices`, picked by seed.
CREATE FUNCTION pg_temp.pick(choices text[], seed text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT
    AS $$ SELECT choices[1 + pg_temp.h(seed) % array_length(choices, 1)] $$;

-- A name as an email local part: lower case, accents folded, apostrophes
-- and spaces dropped (translate deletes characters with no counterpart).
-- Capitals with accents are listed too: lower() in the C locale only
-- lowers ASCII.
CREATE FUNCTION pg_temp.local_part(name text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT
    AS $$ SELECT translate(lower(name), 'áàâäãåçéèêëễíìîïıñóòôöõøúùûüýłßğÓØŁ'' ',
                                        'aaaaaaceeeeeiiiiinoooooouuuuylsgool') $$;

CREATE TEMPORARY TABLE first_names AS
SELECT ARRAY['Ada', 'Alan', 'Grace', 'Linus', 'Margaret', 'Dennis', 'Barbara',
             'Ken', 'Frances', 'Edsger', 'Radia', 'Tim', 'Hedy', 'Niklaus',
             'José', 'Zoë', 'Łukasz', 'Søren', 'Siobhán', 'Chloé', 'Jürgen',
             'Ana María', 'François', 'Björn', 'Oğuz', 'Nuño', 'Mary-Kate',
             'Aoife', 'Rhys', 'Priya', 'Wei', 'Kwame', 'Fatima', 'Olumide',
             'Mateo', 'Ingrid', 'Yusuf', 'Sakura', 'Dmitri', 'Leilani'] AS v;

CREATE TEMPORARY TABLE last_names AS
SELECT ARRAY['Lovelace', 'Turing', 'Hopper', 'Torvalds', 'Hamilton', 'Ritchie',
             'Liskov', 'Thompson', 'Allen', 'Dijkstra', 'Perlman', 'Berners-Lee',
             'O''Brien', 'D''Angelo', 'Müller', 'Núñez', 'Østergaard', 'van der Berg',
             'Smith-Jones', 'Nguyễn', 'García Márquez', 'Kowalski', 'Ó Súilleabháin',
             'MacDonald', 'N''Diaye', 'Schäfer', 'Yılmaz', 'Okafor', 'Haddad',
             'Andersson', 'Rossi', 'Dubois', 'Kim', 'Patel', 'Santos', 'Ivanova',
             'Mbeki', 'Tanaka', 'Fernández', 'St. Clair'] AS v;

-- Free text that a naive SQL-text pipeline gets wrong. Used for customer
-- notes (nulled by the rules) and product descriptions (kept: they must
-- come out byte for byte).
CREATE TEMPORARY TABLE hard_text AS
SELECT ARRAY[
    'Prefers calls after 5pm; don''t email on weekends',
    E'VIP\tgold tier — renewal due 🎉',
    E'Line one\r\nline two with a backslash \\ in the middle',
    E'ends with a backslash \\',
    'Spricht nur Deutsch; Größe: M; «très» important',
    'Said: "it''s fine", then; DROP TABLE customers; --',
    E'\\N is not NULL here, and neither is \\.',
    '日本語のメモ: 配達は午前中 📦'] AS v;

CREATE TABLE customers (
    id              bigserial PRIMARY KEY,
    email           text NOT NULL,
    first_name      text NOT NULL,
    last_name       text NOT NULL,
    full_name       text NOT NULL,
    phone           text,
    ssn             text,
    birth_date      date,
    password_hash   text NOT NULL,
    notes           text,
    marketing_opt_in boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT customers_email_key UNIQUE (email)
);

CREATE TABLE addresses (
    id          bigserial PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('billing', 'shipping')),
    street      text NOT NULL,
    city        text NOT NULL,
    postal_code text NOT NULL,
    country     char(2) NOT NULL
);
CREATE INDEX addresses_customer_id_idx ON addresses (customer_id);

CREATE TABLE products (
    id          serial PRIMARY KEY,
    sku         text NOT NULL UNIQUE,
    name        text NOT NULL,
    description text,
    price       numeric(10, 2) NOT NULL CHECK (price >= 0),
    tags        text[] NOT NULL DEFAULT '{}'
);

-- Order numbers come from their own sequence, started where a real shop's
-- would be; its state must survive the copy.
CREATE SEQUENCE order_number_seq START 100000;

CREATE TABLE orders (
    id          bigserial PRIMARY KEY,
    number      bigint NOT NULL UNIQUE DEFAULT nextval('order_number_seq'),
    customer_id bigint NOT NULL REFERENCES customers (id),
    status      text NOT NULL,
    placed_at   timestamptz NOT NULL,
    shipping    jsonb NOT NULL,
    total       numeric(12, 2) NOT NULL DEFAULT 0
);
CREATE INDEX orders_customer_id_placed_at_idx ON orders (customer_id, placed_at);

CREATE TABLE order_items (
    order_id   bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id integer NOT NULL REFERENCES products (id),
    quantity   integer NOT NULL CHECK (quantity > 0),
    unit_price numeric(10, 2) NOT NULL,
    PRIMARY KEY (order_id, product_id)
);

CREATE TABLE employees (
    id         serial PRIMARY KEY,
    manager_id integer REFERENCES employees (id),
    name       text NOT NULL,
    email      text NOT NULL UNIQUE,
    title      text NOT NULL,
    salary     numeric(10, 2) NOT NULL,
    hired_on   date NOT NULL
);

INSERT INTO customers (email, first_name, last_name, full_name, phone, ssn,
                       birth_date, password_hash, notes, marketing_opt_in, created_at)
SELECT pg_temp.local_part(f) || '.' || pg_temp.local_part(l) || i || '@'
           || pg_temp.pick(ARRAY['example.com', 'mail.example.org', 'example.net'], 'd' || i),
       f, l, f || ' ' || l,
       CASE pg_temp.h('p' || i) % 5
           WHEN 0 THEN NULL
           WHEN 1 THEN '+44 20 7946 ' || lpad((pg_temp.h('pn' || i) % 10000)::text, 4, '0')
           -- A valid North American number: the exchange starts with 2–9 (NANPA).
           ELSE '+1 (555) ' || (200 + pg_temp.h('pn' || i) % 800)::text
                || '-' || lpad((pg_temp.h('px' || i) % 10000)::text, 4, '0')
       END,
       CASE WHEN i % 4 = 0 THEN NULL
            ELSE lpad((pg_temp.h('s' || i) % 1000000000)::text, 9, '0') END,
       CASE WHEN i % 9 = 0 THEN NULL
            ELSE date '1945-01-01' + (pg_temp.h('b' || i) % 21000)::int END,
       '$argon2id$v=19$m=65536,t=3,p=4$' || substr(md5('salt' || i), 1, 22)
           || '$' || md5('hash' || i) || md5('hash2' || i),
       CASE WHEN i % 3 = 0 THEN NULL
            ELSE pg_temp.pick((SELECT v FROM hard_text), 'n' || i) END,
       pg_temp.h('o' || i) % 2 = 0,
       timestamptz '2019-01-01 00:00:00+00' + make_interval(secs => pg_temp.h('c' || i) % 157680000)
FROM generate_series(1, {{CUSTOMERS}}) AS i,
     LATERAL (SELECT pg_temp.pick((SELECT v FROM first_names), 'f' || i) AS f,
                     pg_temp.pick((SELECT v FROM last_names), 'l' || i) AS l) AS n
ORDER BY i;

-- Every customer has a billing address; about half also ship elsewhere.
INSERT INTO addresses (customer_id, kind, street, city, postal_code, country)
SELECT c.id, k.kind,
       (1 + pg_temp.h('sn' || k.kind || c.id) % 250)::text || ' '
           || pg_temp.pick(ARRAY['High Street', 'Main St', 'Rue de l''Église', 'Königsallee',
                                 'Calle Mayor', 'Elm Avenue', 'O''Connell Street', 'Jalan Besar'],
                           'st' || k.kind || c.id),
       split_part(place, '|', 1),
       lpad((pg_temp.h('z' || k.kind || c.id) % 100000)::text, 5, '0'),
       split_part(place, '|', 2)
FROM customers AS c
CROSS JOIN (VALUES ('billing'), ('shipping')) AS k (kind)
CROSS JOIN LATERAL pg_temp.pick(ARRAY['Springfield|US', 'London|GB', 'Paris|FR', 'Düsseldorf|DE',
                                      'Madrid|ES', 'Dublin|IE', 'Kuala Lumpur|MY', 'São Paulo|BR',
                                      'Kraków|PL', 'Reykjavík|IS'], 'ci' || k.kind || c.id) AS place
WHERE k.kind = 'billing' OR pg_temp.h('has_ship' || c.id) % 2 = 0
ORDER BY c.id, k.kind;

INSERT INTO products (sku, name, description, price, tags)
SELECT 'SKU-' || lpad(i::text, 5, '0'),
       pg_temp.pick(ARRAY['Mug', 'Notebook', 'Hoodie', 'Sticker pack', 'Desk lamp',
                          'Keyboard', 'Water bottle', 'Tote bag'], 'pn' || i) || ' #' || i,
       CASE WHEN i % 5 = 0 THEN NULL
            ELSE pg_temp.pick((SELECT v FROM hard_text), 'pd' || i) END,
       (199 + pg_temp.h('pp' || i) % 9800) / 100.0,
       CASE i % 4
           WHEN 0 THEN '{}'::text[]
           WHEN 1 THEN ARRAY['sale', 'new']
           WHEN 2 THEN ARRAY['a, comma', 'a "quote"', E'a\ttab', '{braces}']
           ELSE ARRAY['back\slash', 'NULL', 'ünïcödé ☕']
       END
FROM generate_series(1, greatest(20, {{CUSTOMERS}} / 5)) AS i
ORDER BY i;

-- Three orders per customer on average; the shipping document carries the
-- name and address the order was sent to, as an e-commerce backend would.
INSERT INTO orders (customer_id, status, placed_at, shipping)
SELECT c.id,
       pg_temp.pick(ARRAY['pending', 'paid', 'shipped', 'shipped', 'delivered', 'delivered',
                          'refunded'], 'os' || i),
       timestamptz '2022-01-01 00:00:00+00' + make_interval(secs => pg_temp.h('ot' || i) % 94608000),
       jsonb_build_object(
           'name', c.full_name,
           'address', jsonb_build_object('street', a.street, 'city', a.city,
                                         'postal_code', a.postal_code, 'country', a.country),
           'carrier', pg_temp.pick(ARRAY['UPS', 'DHL', 'La Poste', 'Royal Mail'], 'ca' || i),
           'instructions', CASE WHEN i % 4 = 0 THEN E'Leave at the back door; don''t ring\tthe bell' END,
           'gift', i % 7 = 0)
FROM generate_series(1, 3 * {{CUSTOMERS}}) AS i
JOIN customers AS c ON c.id = 1 + pg_temp.h('oc' || i) % {{CUSTOMERS}}
JOIN LATERAL (SELECT street, city, postal_code, country FROM addresses
              WHERE customer_id = c.id ORDER BY kind DESC LIMIT 1) AS a ON true
ORDER BY i;

-- One to four distinct products per order (two draws may pick the same
-- product; DISTINCT ON keeps one line for it).
INSERT INTO order_items (order_id, product_id, quantity, unit_price)
SELECT DISTINCT ON (o.id, p.id)
       o.id, p.id, 1 + pg_temp.h('q' || o.id || '-' || p.id) % 3, p.price
FROM orders AS o
CROSS JOIN LATERAL generate_series(1, 1 + (pg_temp.h('n' || o.id) % 4)::int) AS j
JOIN products AS p
  ON p.id = 1 + pg_temp.h('oi' || o.id || '-' || j) % (SELECT count(*) FROM products)
ORDER BY o.id, p.id;

UPDATE orders AS o
SET total = s.total
FROM (SELECT order_id, sum(quantity * unit_price) AS total
      FROM order_items GROUP BY order_id) AS s
WHERE s.order_id = o.id;

-- A management tree: employee 1 is the CEO, everyone else reports to an
-- employee with a lower id, so the self-reference has several levels.
INSERT INTO employees (manager_id, name, email, title, salary, hired_on)
SELECT CASE WHEN i = 1 THEN NULL ELSE 1 + pg_temp.h('m' || i) % (i - 1) END,
       f || ' ' || l,
       pg_temp.local_part(f) || '.' || pg_temp.local_part(l) || '.' || i || '@shop.example.com',
       CASE WHEN i = 1 THEN 'Chief Executive Officer'
            ELSE pg_temp.pick(ARRAY['Engineer', 'Support Agent', 'Warehouse Lead',
                                    'Designer', 'Accountant', 'Team Lead'], 't' || i) END,
       40000 + pg_temp.h('sal' || i) % 80000,
       date '2012-01-01' + (pg_temp.h('h' || i) % 4000)::int
FROM generate_series(1, greatest(10, {{CUSTOMERS}} / 10)) AS i,
     LATERAL (SELECT pg_temp.pick((SELECT v FROM first_names), 'ef' || i) AS f,
                     pg_temp.pick((SELECT v FROM last_names), 'el' || i) AS l) AS n
ORDER BY i;

ANALYZE;
