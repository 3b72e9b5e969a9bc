/*
 * mockkafka: a real Kafka-protocol cluster for tests, built on librdkafka's mock cluster.
 *
 *   gcc -O2 -o mockkafka mockkafka.c $(pkg-config --cflags --libs rdkafka)
 *   ./mockkafka [brokers]            (default 3)
 *
 * Prints one JSON line on stdout: {"bootstrap":"127.0.0.1:P1,...","brokers":N}
 * then reads one command per line on stdin and answers "ok" or "err <message>":
 *   topic <name> <partitions> <replication>
 *   down <brokerId> | up <brokerId>          (-1 = all brokers; no leader change)
 *   leader <topic> <partition> <brokerId>
 *   error <apikey> <errcode> <count>         (next <count> requests of <apikey> fail)
 *   rtt <brokerId> <ms>
 *   coordinator <group|transaction> <key> <brokerId>
 *   quit
 * Exits on "quit" or stdin EOF, so it dies with its parent.
 *
 * Limits of librdkafka's mock (2.0.x): each partition keeps at most 5 MB or 100000 message
 * sets (hard-coded in rd_kafka_mock_partition_init, no config property), older sets are
 * dropped, so consumers must keep up with producers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
        (void)rk;
        if (level <= 3) fprintf(stderr, "mockkafka: %s: %s\n", fac, buf);
}

static void reply(rd_kafka_resp_err_t err) {
        if (err) printf("err %s\n", rd_kafka_err2str(err));
        else printf("ok\n");
        fflush(stdout);
}

static void reply_msg(const char *msg) {
        printf("err %s\n", msg);
        fflush(stdout);
}

/* Parses a decimal integer; returns 0 on success. */
static int parse_int(const char *s, long *out) {
        char *end;
        if (!s || !*s) return -1;
        *out = strtol(s, &end, 10);
        return *end ? -1 : 0;
}

int main(int argc, char **argv) {
        char errstr[512], line[1024];
        int nbrokers = argc > 1 ? atoi(argv[1]) : 3;
        if (nbrokers < 1 || nbrokers > 64) {
                fprintf(stderr, "mockkafka: broker count must be 1..64\n");
                return 2;
        }

        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set_log_cb(conf, quiet_log);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "mockkafka: rd_kafka_new: %s\n", errstr);
                return 1;
        }
        rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, nbrokers);
        if (!mc) {
                fprintf(stderr, "mockkafka: rd_kafka_mock_cluster_new failed\n");
                rd_kafka_destroy(rk);
                return 1;
        }
        printf("{\"bootstrap\":\"%s\",\"brokers\":%d}\n", rd_kafka_mock_cluster_bootstraps(mc), nbrokers);
        fflush(stdout);

        while (fgets(line, sizeof(line), stdin)) {
                char *argv2[6] = {0};
                int n = 0;
                char *save = NULL;
                for (char *t = strtok_r(line, " \t\r\n", &save); t && n < 6; t = strtok_r(NULL, " \t\r\n", &save))
                        argv2[n++] = t;
                if (n == 0) continue;
                const char *cmd = argv2[0];
                long a, b, c;

                if (!strcmp(cmd, "quit")) {
                        printf("ok\n");
                        fflush(stdout);
                        break;
                } else if (!strcmp(cmd, "topic")) {
                        if (n != 4 || parse_int(argv2[2], &a) || parse_int(argv2[3], &b) || a < 1 || b < 1)
                                reply_msg("usage: topic <name> <partitions> <replication>");
                        else
                                reply(rd_kafka_mock_topic_create(mc, argv2[1], (int)a, (int)b));
                } else if (!strcmp(cmd, "down") || !strcmp(cmd, "up")) {
                        if (n != 2 || parse_int(argv2[1], &a))
                                reply_msg("usage: down|up <brokerId>");
                        else if (a != -1 && (a < 1 || a > nbrokers))
                                reply_msg("unknown broker");
                        else if (cmd[0] == 'd')
                                reply(rd_kafka_mock_broker_set_down(mc, (int32_t)a));
                        else
                                reply(rd_kafka_mock_broker_set_up(mc, (int32_t)a));
                } else if (!strcmp(cmd, "leader")) {
                        if (n != 4 || parse_int(argv2[2], &a) || parse_int(argv2[3], &b))
                                reply_msg("usage: leader <topic> <partition> <brokerId>");
                        else if (b != -1 && (b < 1 || b > nbrokers))
                                reply_msg("unknown broker");
                        else
                                reply(rd_kafka_mock_partition_set_leader(mc, argv2[1], (int32_t)a, (int32_t)b));
                } else if (!strcmp(cmd, "error")) {
                        if (n != 4 || parse_int(argv2[1], &a) || parse_int(argv2[2], &b) || parse_int(argv2[3], &c) ||
                            c < 1 || c > 10000) {
                                reply_msg("usage: error <apikey> <errcode> <count 1..10000>");
                        } else {
                                rd_kafka_resp_err_t *errs = malloc(sizeof(*errs) * (size_t)c);
                                for (long i = 0; i < c; i++) errs[i] = (rd_kafka_resp_err_t)b;
                                rd_kafka_mock_push_request_errors_array(mc, (int16_t)a, (size_t)c, errs);
                                free(errs);
                                reply(RD_KAFKA_RESP_ERR_NO_ERROR);
                        }
                } else if (!strcmp(cmd, "rtt")) {
                        if (n != 3 || parse_int(argv2[1], &a) || parse_int(argv2[2], &b))
                                reply_msg("usage: rtt <brokerId> <ms>");
                        else
                                reply(rd_kafka_mock_broker_set_rtt(mc, (int32_t)a, (int)b));
                } else if (!strcmp(cmd, "coordinator")) {
                        if (n != 4 || parse_int(argv2[3], &a))
                                reply_msg("usage: coordinator <group|transaction> <key> <brokerId>");
                        else
                                reply(rd_kafka_mock_coordinator_set(mc, argv2[1], argv2[2], (int32_t)a));
                } else {
                        reply_msg("unknown command");
                }
        }

        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(rk);
        return 0;
}
