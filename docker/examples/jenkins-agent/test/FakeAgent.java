// A stand-in for Jenkins' agent.jar, used by scripts/examples.sh (the real one comes from a
// Jenkins controller, which is not reachable here). It prints who runs it and with which
// arguments, checks that the Docker daemon answers on DOCKER_HOST's socket, sleeps
// $FAKE_AGENT_SLEEP seconds if set (as a connected agent would wait), and exits with
// $FAKE_AGENT_EXIT (default 0).
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;

public class FakeAgent {
    public static void main(String[] args) throws Exception {
        System.out.println("fake-agent: user=" + System.getProperty("user.name")
                + " cwd=" + System.getProperty("user.dir"));
        System.out.println("fake-agent: args=" + String.join(" ", args));
        System.out.println("fake-agent: jvm=" + String.join(" ",
                java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()));
        System.out.println("fake-agent: DOCKER_HOST=" + System.getenv("DOCKER_HOST")
                + " TESTCONTAINERS_HOST_OVERRIDE=" + System.getenv("TESTCONTAINERS_HOST_OVERRIDE"));
        String host = System.getenv("DOCKER_HOST");
        String path = host != null && host.startsWith("unix://")
                ? host.substring(7) : "/var/run/docker.sock";
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(path));
            ch.write(ByteBuffer.wrap("GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII)));
            StringBuilder sb = new StringBuilder();
            ByteBuffer buf = ByteBuffer.allocate(4096);
            while (ch.read(buf) >= 0) {
                buf.flip();
                sb.append(StandardCharsets.UTF_8.decode(buf));
                buf.clear();
            }
            String answer = sb.toString();
            System.out.println("fake-agent: docker " + path + " answered: "
                    + answer.split("\r\n", 2)[0] + " / " + answer.substring(answer.indexOf("\r\n\r\n") + 4).trim());
        }
        String sleep = System.getenv("FAKE_AGENT_SLEEP");
        if (sleep != null && !sleep.isEmpty()) {
            Runtime.getRuntime().addShutdownHook(new Thread(
                    () -> System.out.println("fake-agent: stopping (signal)")));
            System.out.println("fake-agent: connected, sleeping " + sleep + " s");
            Thread.sleep(Long.parseLong(sleep) * 1000);
        }
        String code = System.getenv("FAKE_AGENT_EXIT");
        System.exit(code == null || code.isEmpty() ? 0 : Integer.parseInt(code));
    }
}
