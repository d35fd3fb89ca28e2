# A Vagrant guest plugin for RancherOS-Py, shipped inside the box (the box's Vagrantfile loads it).
#
# Everything goes through `ros`: the hostname and the private networks become config
# (`ros config set`, which applies a change at once; the networks are written with --no-apply and
# applied together by one restart of the network service); keys are the config's ssh_authorized_keys
# (persistent) and ~/.ssh/authorized_keys (this session); halt is `ros os shutdown`.
require "ipaddr"
require "json"
require "shellwords"
require "yaml"

module VagrantPlugins
  module GuestRancherOSPy
    class Guest < Vagrant.plugin("2", :guest)
      def detect?(machine)
        machine.communicate.test("grep -qs '^ID=rancheros$' /etc/os-release && command -v ros")
      end
    end

    # The capabilities; Vagrant calls each as Cap.<name>(machine, ...).
    module Cap
      def self.ros(machine, args, **opts)
        machine.communicate.sudo("ros #{args}", **opts)
      end

      def self.ros_out(machine, args)
        out = +""
        machine.communicate.sudo("ros #{args}") { |type, data| out << data if type == :stdout }
        out
      end

      def self.config_set_json(machine, key, value, apply: true)
        ros(machine, "config set #{apply ? '' : '--no-apply '}--json #{key} #{Shellwords.escape(JSON.generate(value))}")
      end

      def self.change_host_name(machine, name)
        current = ros_out(machine, "config get hostname").strip
        return if current == name
        config_set_json(machine, "hostname", name)   # applied at once by the network service
      end

      # Vagrant's interface index N is ethN: eth0 is the provider's management/NAT network.
      def self.configure_networks(machine, networks)
        networks.each do |n|
          iface = "eth#{n[:interface]}"
          spec = if n[:type].to_s == "dhcp"
                   { "dhcp" => true }
                 else
                   prefix = IPAddr.new(n[:netmask] || "255.255.255.0").to_i.to_s(2).count("1")
                   { "dhcp" => false, "address" => "#{n[:ip]}/#{prefix}" }
                 end
          config_set_json(machine, "rancher.network.interfaces.#{iface}", spec, apply: false)
        end
        ros(machine, "service restart network")
      end

      def self.halt(machine)
        begin
          ros(machine, "os shutdown", error_check: false)
        rescue IOError, Vagrant::Errors::SSHDisconnected, Vagrant::Errors::SSHConnectionReset
          # the machine went down under the session: that is the point
        end
      end

      def self.authorized_keys(machine)
        YAML.safe_load(ros_out(machine, "config get ssh_authorized_keys")) || []
      end

      def self.insert_public_key(machine, contents)
        key = contents.strip
        keys = authorized_keys(machine)
        config_set_json(machine, "ssh_authorized_keys", keys + [key]) unless keys.include?(key)
        machine.communicate.execute(
          "mkdir -p ~/.ssh && chmod 0700 ~/.ssh && touch ~/.ssh/authorized_keys && " \
          "chmod 0600 ~/.ssh/authorized_keys && " \
          "(grep -qxF #{Shellwords.escape(key)} ~/.ssh/authorized_keys || " \
          "printf '%s\\n' #{Shellwords.escape(key)} >> ~/.ssh/authorized_keys)")
      end

      def self.remove_public_key(machine, contents)
        key = contents.strip
        keys = authorized_keys(machine)
        config_set_json(machine, "ssh_authorized_keys", keys - [key]) if keys.include?(key)
        machine.communicate.execute(
          "if test -f ~/.ssh/authorized_keys; then grep -vxF #{Shellwords.escape(key)} ~/.ssh/authorized_keys " \
          "> ~/.ssh/authorized_keys.new; mv ~/.ssh/authorized_keys.new ~/.ssh/authorized_keys; " \
          "chmod 0600 ~/.ssh/authorized_keys; fi")
      end
    end

    class Plugin < Vagrant.plugin("2")
      name "RancherOS-Py guest"
      description "Hostname, private networks, keys and halt through ros on RancherOS-Py."

      guest(:rancheros, :linux) { Guest }
      %i[change_host_name configure_networks halt insert_public_key remove_public_key].each do |cap|
        guest_capability(:rancheros, cap) { Cap }
      end
    end
  end
end
