/* query_test.c - the pure parts of gateway/query.c: points and bounding boxes */
#include <criterion/criterion.h>
#include <math.h>

#include "gateway.h"

/* Haversine on the sphere the gateway uses (the SQL tix_distance_km does the same). */
static double distance_km(double lat1, double lon1, double lat2, double lon2)
{
    double r = M_PI / 180, a = sin((lat2 - lat1) * r / 2), b = sin((lon2 - lon1) * r / 2);
    return 2 * 6371.0088 * asin(sqrt(a * a + cos(lat1 * r) * cos(lat2 * r) * b * b));
}

Test(query, a_point_is_lat_comma_lng_in_range)
{
    double lat = 0, lon = 0;
    cr_assert(tix_gw_parse_point("48.8566,2.3522", &lat, &lon));
    cr_assert_float_eq(lat, 48.8566, 1e-9);
    cr_assert_float_eq(lon, 2.3522, 1e-9);
    cr_assert(tix_gw_parse_point("-90,180", &lat, &lon));
    static const char *const bad[] = {"",       "1",      "1,",    ",1",      "91,0",
                                      "0,-181", "a,b",    "1,2,3", "1e400,0", "nan,0",
                                      "1 ,2",   "0x10,0", "inf,0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert(!tix_gw_parse_point(bad[i], &lat, &lon), "%s", bad[i]);
}

/* Every point on the circle (36 bearings) lies inside the box. */
static void expect_circle_inside(double lat, double lon, double radius)
{
    struct tix_gw_geo_box box;
    tix_gw_geo_box(lat, lon, radius, &box);
    double d = radius / 6371.0088, r = M_PI / 180;
    for (int k = 0; k < 36; k++) {
        double bearing = k * 10 * r;
        double lat2 = asin(sin(lat * r) * cos(d) + cos(lat * r) * sin(d) * cos(bearing));
        double lon2 = lon * r + atan2(sin(bearing) * sin(d) * cos(lat * r),
                                      cos(d) - sin(lat * r) * sin(lat2));
        lat2 /= r;
        lon2 /= r;
        if (lon2 > 180)
            lon2 -= 360;
        if (lon2 < -180)
            lon2 += 360;
        cr_assert_float_eq(distance_km(lat, lon, lat2, lon2), radius, radius * 1e-6);
        cr_assert(lat2 >= box.min_lat - 1e-9 && lat2 <= box.max_lat + 1e-9, "lat %f", lat2);
        cr_assert(lon2 >= box.min_lon - 1e-9 && lon2 <= box.max_lon + 1e-9, "lon %f", lon2);
    }
}

Test(query, the_box_holds_the_whole_circle)
{
    expect_circle_inside(48.8566, 2.3522, 30);
    expect_circle_inside(-33.87, 151.21, 500);
    expect_circle_inside(64.1, -21.9, 1000);
    expect_circle_inside(0, 0, 20000);
}

Test(query, poles_and_the_antimeridian_lift_the_longitude_bound)
{
    struct tix_gw_geo_box box;
    tix_gw_geo_box(89.9, 10, 50, &box);
    cr_assert_float_eq(box.max_lat, 90, 1e-9);
    cr_assert(box.min_lon == -180 && box.max_lon == 180);
    tix_gw_geo_box(0, 179.9, 50, &box);
    cr_assert(box.min_lon == -180 && box.max_lon == 180);
    tix_gw_geo_box(0, 0, 50, &box); /* and the ordinary case is tight */
    cr_assert(box.max_lon < 0.5 && box.min_lon > -0.5, "%f %f", box.min_lon, box.max_lon);
}
