\set pid random(1, 100000)
\set r random(1, 281474976710655)
SELECT status, points FROM loyalty.complete_rating_slip(
    ('5a000000-0000-4000-8000-' || lpad(to_hex(:r::bigint), 12, '0'))::uuid, bench.pid(:pid), 25, 3600,
    '{"house_edge": 2, "average_rounds_per_hour": 60, "seats_available": 6}');
