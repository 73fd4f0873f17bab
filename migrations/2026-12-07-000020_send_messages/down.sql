DROP FUNCTION send_messages(bigint[], bigint[], bigint[], text[], bigint[], text[], text[],
                            text[], text[], timestamptz[], boolean[], bigint[], bigint[],
                            bigint[], integer[], text[], text[], boolean[], text[], bigint[],
                            bigint[], text[]);
